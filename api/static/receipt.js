// Checking a ballot receipt without telling the inbox who holds it: the receipt travels in the page's
// fragment (#r=..., never sent to a server) and is checked by a request that carries no cookie.

const form = document.getElementById("receipt-check");
const input = document.getElementById("r");
const shown = document.getElementById("receipt");
const counted = document.getElementById("counted");
const STATES = {
  SESSION_NOT_CLOSED: (s) => `Phiên ${s} chưa kết thúc: phiếu sẽ được kiểm khi phiên đóng.`,
  COUNTED: () => "Phiếu đã được kiểm.",
  SPOILED: () => "Phiếu đã nhận nhưng không mở được nên không được kiểm (phiếu không hợp lệ).",
  NOT_FOUND: () => "Phiếu này không có trong danh sách phiếu của phiên.",
};

async function check(receipt) {
  shown.textContent = receipt;
  shown.hidden = false;
  counted.className = "muted";
  counted.textContent = "Đang kiểm tra…";
  try {
    const response = await fetch(`/inbox/receipt-state?r=${encodeURIComponent(receipt)}`, {
      credentials: "omit",
      headers: { Accept: "application/json" },
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
    counted.className = "";
    counted.textContent = STATES[body.state](body.session_id);
  } catch (err) {
    counted.className = "error";
    counted.textContent = `Không kiểm tra được: ${err.message}`;
  }
}

function fromFragment() {
  const r = new URLSearchParams(location.hash.slice(1)).get("r");
  if (r) {
    input.value = r;
    check(r);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const r = input.value.trim();
  if (!r) return;
  history.replaceState(null, "", `#r=${encodeURIComponent(r)}`);
  check(r);
});
window.addEventListener("hashchange", fromFragment);
fromFragment();
