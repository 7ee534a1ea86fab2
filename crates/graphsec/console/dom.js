// Small DOM helpers: elements are built with properties and children, never from HTML strings, so
// profile data is always text.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && !key.includes("-")) node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function clear(node) {
  node.replaceChildren();
  return node;
}

// A labelled input; `id` names it for the label and the tests.
export function field(label, input) {
  return el("div", { className: "field" }, el("label", { htmlFor: input.id }, label), input);
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}
