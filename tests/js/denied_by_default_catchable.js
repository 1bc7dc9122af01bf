// expect: {"name": "ToolError", "code": "denied", "rule": "default-deny", "isToolError": true, "isError": true}
try {
  await http.fetch({ method: "GET", url: "https://example.org/", headers: [], body: null, bearerSecret: null });
} catch (e) {
  return { name: e.name, code: e.code, rule: e.rule, isToolError: e instanceof ToolError, isError: e instanceof Error };
}
