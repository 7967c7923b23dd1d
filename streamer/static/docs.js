// Renders /openapi.json with no external assets: one collapsible block per operation.
"use strict";
(async () => {
  const root = document.getElementById("docs");
  const doc = await (await fetch("/openapi.json")).json();
  const el = (tag, attrs = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), attrs);
    node.append(...children);
    return node;
  };
  const resolve = (schema) => (schema && schema.$ref ? doc.components.schemas[schema.$ref.split("/").pop()] : schema);
  const pretty = (schema) => el("pre", {}, JSON.stringify(resolve(schema), null, 2));
  root.replaceChildren(el("p", {}, doc.info.description));
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const block = el("details", { className: "op" },
        el("summary", {}, el("span", { className: `method ${method}` }, method.toUpperCase()), el("code", {}, path), ` — ${op.summary}`));
      if (op.description) block.append(el("p", {}, op.description));
      if (op.parameters) {
        const rows = op.parameters.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, p.description || "")));
        block.append(el("h4", {}, "Parameters"), el("table", {}, ...rows));
      }
      const body = op.requestBody && op.requestBody.content["application/json"];
      if (body) block.append(el("h4", {}, "Request body"), pretty(body.schema));
      for (const [code, response] of Object.entries(op.responses || {})) {
        const json = response.content && response.content["application/json"];
        block.append(el("h4", {}, `${code} ${response.description || ""}`));
        if (json) block.append(pretty(json.schema));
      }
      root.append(block);
    }
  }
})();
