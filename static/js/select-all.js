// The review queue's "Select all on this page": a link that reloads the page with every box
// ticked works without JavaScript; here it becomes a checkbox that ticks them in place.
document.addEventListener("DOMContentLoaded", () => {
  for (const link of document.querySelectorAll("a[data-select-all]")) {
    const form = link.closest("form");
    const boxes = () => form.querySelectorAll(`input[type=checkbox][name="${link.dataset.selectAll}"]`);
    const toggle = document.createElement("input");
    toggle.type = "checkbox";
    toggle.id = "select-all";
    toggle.setAttribute("aria-label", link.dataset.label);
    toggle.checked = [...boxes()].every((box) => box.checked);
    toggle.addEventListener("change", () => boxes().forEach((box) => { box.checked = toggle.checked; }));
    form.addEventListener("change", (event) => {
      if (event.target !== toggle) toggle.checked = [...boxes()].every((box) => box.checked);
    });
    link.replaceWith(toggle);
  }
});
