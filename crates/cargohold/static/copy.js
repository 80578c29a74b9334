// cargohold's one script: copy buttons. Pages work without it (the buttons stay
// hidden): the text is shown in full, and one click selects all of it.
"use strict";
for (const button of document.querySelectorAll("button.copy-button[hidden]")) {
  const source = document.getElementById(button.dataset.copies);
  if (!source) continue;
  const label = button.textContent;
  button.hidden = false;
  button.addEventListener("click", async () => {
    let text;
    if (source instanceof HTMLInputElement) {
      text = source.value;
      source.select();
    } else {
      text = source.textContent;
      const range = document.createRange();
      range.selectNodeContents(source);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
    }
    let copied;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      // Without the clipboard API (plain http, or refused): copy the selection.
      copied = document.execCommand("copy");
    }
    // The text stays selected either way, for Ctrl+C.
    button.textContent = copied ? "Copied" : "Press Ctrl+C";
    setTimeout(() => { button.textContent = label; }, 2000);
  });
}
