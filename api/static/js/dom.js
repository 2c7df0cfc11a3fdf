// Building DOM nodes from data, never by parsing strings as HTML: text is always text.

export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "g", "path", "circle", "line", "polyline", "polygon", "text", "rect", "title"]
    .includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || (value === false && key !== "checked")) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "text") {
      el.textContent = value;
    } else if (key === "checked") {
      el.checked = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function $(selector) {
  return document.querySelector(selector);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Run `draw()` (which may replace the focused element) and give the focus back to the
 * element that has the same `data-focus` key afterwards, without scrolling: a redraw
 * or a live event never drops the keyboard user's place to the page body. */
export function keepFocus(draw) {
  const key = document.activeElement?.dataset?.focus;
  const result = draw();
  if (key && document.activeElement?.dataset?.focus !== key) {
    const again = document.querySelector(`[data-focus="${CSS.escape(key)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
  return result;
}

/** Enter and Space activate an element that is not a button by nature (role=button). */
export function activateOnKeys(el, run) {
  el.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      run(event);
    }
  });
  return el;
}
