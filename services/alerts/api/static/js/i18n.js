// Vietnamese and English: chosen from the browser's languages, switchable, kept in this browser.
// English is the key; an element marked data-i18n shows its Vietnamese text when asked.

const LANGUAGE_KEY = "truyvet.language";

const VI = {
  "Sign out": "Đăng xuất",
  "Sign in": "Đăng nhập",
  "Token": "Mã truy cập",
  "Open dashboard": "Mở bảng điều khiển",
  "Enter a dashboard, authority or notifier token":
    "Nhập mã truy cập của bảng điều khiển, cơ quan y tế hoặc hệ thống thông báo",
  "the page shows what it may read. It stays in this browser tab only.":
    "trang chỉ hiện những gì mã được phép xem. Mã chỉ lưu trong thẻ trình duyệt này.",
  "scans, last 24 h": "lượt quét, 24 giờ qua",
  "open cases (F0)": "ca bệnh đang mở (F0)",
  "F1 alerted": "F1 đã báo",
  "F2 alerted": "F2 đã báo",
  "Live alerts": "Cảnh báo trực tiếp",
  "waiting for alerts…": "đang chờ cảnh báo…",
  "New F1/F2 alerts appear here as they are raised.":
    "Cảnh báo F1/F2 mới hiện ở đây ngay khi được phát ra.",
  "Open cases": "Ca bệnh đang mở",
  "Case": "Ca bệnh",
  "Reported": "Báo cáo lúc",
  "No open cases.": "Không có ca bệnh đang mở.",
  "Scans per hour": "Lượt quét mỗi giờ",
  "Busiest venues": "Địa điểm đông nhất",
  "last 24 h": "24 giờ qua",
  "No scans in the last 24 hours.": "Không có lượt quét nào trong 24 giờ qua.",
  "Transmission chain": "Chuỗi lây nhiễm",
  "Show": "Xem",
  "Pick a case to see who it reached: F0 → F1 → F2.":
    "Chọn một ca bệnh để xem những ai liên quan: F0 → F1 → F2.",
  "Venue contact graph": "Đồ thị tiếp xúc tại địa điểm",
  "Pick a venue and a UTC day to see who met whom.":
    "Chọn địa điểm và ngày (UTC) để xem ai đã gặp ai.",
  "F0 case": "F0 ca bệnh",
  "F1 close contact": "F1 tiếp xúc gần",
  "F2 contact of an F1": "F2 tiếp xúc với F1",
  "case id": "mã ca bệnh",
  "venue id": "mã địa điểm",
  "offline": "ngoại tuyến",
  "live": "trực tiếp",
  "connecting…": "đang kết nối…",
  "times in": "giờ theo",
  "reported": "báo cáo",
  "updated": "cập nhật",
  "Search cases": "Tìm ca bệnh",
  "search by case id": "tìm theo mã ca bệnh",
  "peak": "cao nhất",
  "open": "đang mở",
  "newest shown": "hiện những ca mới nhất",
  "reconnecting…": "đang kết nối lại…",
  "Signed in as dashboard: counts only, small counts shown as <5; no person.":
    "Đăng nhập (dashboard): chỉ số liệu tổng hợp, số nhỏ hiện là <5; không có cá nhân nào.",
  ["Signed in as authority: counts, open cases, chains and the venue graphs a case touches; "
    + "persons in each case's own ids; every read is audited."]:
    "Đăng nhập (authority): số liệu, ca bệnh đang mở, chuỗi lây nhiễm và đồ thị tiếp xúc của "
    + "các địa điểm liên quan; mỗi người hiện bằng mã riêng của từng ca; mọi lượt xem đều "
    + "được ghi nhật ký.",
  "Signed in as notifier: the live alert feed.":
    "Đăng nhập (notifier): luồng cảnh báo trực tiếp.",
  "Signed in as admin: counts only.": "Đăng nhập (admin): chỉ số liệu tổng hợp.",
  "The token was refused. Enter a valid token.":
    "Mã truy cập bị từ chối. Hãy nhập một mã hợp lệ.",
  "Contact follow-up": "Theo dõi người tiếp xúc",
  "not yet reached": "chưa liên lạc được",
  "reached": "đã liên lạc",
  "unreachable": "không liên lạc được",
  "tested negative": "xét nghiệm âm tính",
  "tested positive": "xét nghiệm dương tính",
  "isolating": "đang cách ly",
  "released": "đã kết thúc theo dõi",
  "Clusters and exposure events": "Ổ dịch và sự kiện phơi nhiễm",
  "counts only": "chỉ số liệu",
  "Clusters": "Ổ dịch",
  "Exposure events": "Sự kiện phơi nhiễm",
  "Venue": "Địa điểm",
  "Window": "Thời gian",
  "Cases": "Ca bệnh",
  "Visitors exposed": "Khách bị phơi nhiễm",
  "Action": "Khuyến cáo",
  "Alerts": "Cảnh báo",
  "inform": "thông báo",
  "get tested": "đi xét nghiệm",
  "isolate": "cách ly",
  "No cluster detected.": "Chưa phát hiện ổ dịch nào.",
  "No exposure event declared.": "Chưa công bố sự kiện phơi nhiễm nào.",
  "An alert could not be read": "Không đọc được một cảnh báo",
  "partition": "phân vùng",
  "Contact graph of": "Đồ thị tiếp xúc tại",
  "retracted": "đã thu hồi",
  "degree": "bậc",
  "exposed": "tiếp xúc lúc",
  "Show the transmission chain": "Xem chuỗi lây nhiễm",
  "case": "ca",
  "via": "qua",
  "contact of the F0": "tiếp xúc với F0",
  "at": "tại",
  "received since opened": "đã nhận từ khi mở trang",
  "The case was withdrawn: its alerts were retracted.":
    "Ca bệnh đã bị rút lại: các cảnh báo của ca đã được thu hồi.",
  "No close contacts found (yet): late scans can still add some.":
    "Chưa tìm thấy người tiếp xúc gần: các lượt quét đến muộn vẫn có thể bổ sung.",
  "people": "người",
  "pairs in contact": "cặp tiếp xúc",
  "group": "nhóm",
  "groups": "nhóm",
  "largest": "lớn nhất",
  "No contacts at this venue that day.": "Không có tiếp xúc nào tại địa điểm này trong ngày.",
  "together": "cùng nhau",
  "contacts": "người tiếp xúc",
  "of the chain shown": "của chuỗi đang xem",
  "person met": "người đã gặp",
  "people met": "người đã gặp",
  "in contact": "tiếp xúc",
  "Showing the largest groups:": "Đang hiện các nhóm lớn nhất:",
  "The whole graph is at": "Toàn bộ đồ thị có tại",
  "Contact follow-up of the case": "Theo dõi người tiếp xúc của ca bệnh",
  "identifiers sealed": "danh tính được niêm phong",
  "Pick a case to follow up its contacts.": "Chọn một ca bệnh để theo dõi người tiếp xúc.",
  "Contact": "Người tiếp xúc",
  "Degree": "Bậc",
  "Exposed": "Tiếp xúc lúc",
  "Risk": "Nguy cơ",
  "Follow-up": "Theo dõi",
  "Until": "Đến ngày",
  "low": "thấp",
  "medium": "trung bình",
  "high": "cao",
  "People present per 15 minutes": "Số người có mặt mỗi 15 phút",
  "people present": "người có mặt",
  "Too many people to draw": "Quá nhiều người để vẽ đồ thị",
  "people present per 15 minutes, and who was with the case's people, longest first.":
    "số người có mặt mỗi 15 phút, và những ai ở cùng người của ca bệnh, lâu nhất trước.",
  "With the case, longest first": "Ở cùng ca bệnh, lâu nhất trước",
  "Person": "Người",
  "With": "Cùng với",
  "Time together": "Thời gian cùng nhau",
  "Open a case first: its venue-days can be shown.":
    "Hãy mở một ca bệnh trước: đồ thị chỉ hiện cho các địa điểm và ngày của ca đó.",
};

export let language = chosenLanguage();

function chosenLanguage() {
  const kept = localStorage.getItem(LANGUAGE_KEY);
  if (kept === "vi" || kept === "en") return kept;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language];
  return wanted.some((tag) => String(tag).toLowerCase().startsWith("vi")) ? "vi" : "en";
}

/** ``text`` (English) in the page's language. */
export function t(text) {
  return language === "vi" ? VI[text] ?? text : text;
}

/** Show every marked element of ``root`` in ``lang``, and remember the choice. */
export function applyLanguage(lang, root = document) {
  language = lang;
  localStorage.setItem(LANGUAGE_KEY, lang);
  document.documentElement.lang = lang;
  for (const node of root.querySelectorAll("[data-i18n]")) {
    node.dataset.en ??= node.textContent;
    node.textContent = t(node.dataset.en);
  }
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  const toggle = root.getElementById?.("language");
  if (toggle) {
    // The button offers the other language, named in that language.
    toggle.textContent = lang === "vi" ? "English" : "Tiếng Việt";
    toggle.lang = lang === "vi" ? "en" : "vi";
  }
}
