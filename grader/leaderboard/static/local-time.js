// Every UTC time on the page is also shown in the reader's local time zone (no inline script: the CSP forbids it).
for (const t of document.querySelectorAll("time[datetime]")) {
  const d = new Date(t.getAttribute("datetime"));
  if (isNaN(d)) continue;
  const s = document.createElement("span");
  s.className = "local";
  s.textContent = " (" + d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"}) + " your time)";
  t.after(s);
}
