// {{name}}: each top-level function is one export of wit/{{name}}.wit (the WIT
// name in camelCase). Arguments and results are the JSON forms of the WIT
// types; a thrown Error becomes the `err` of a `result`.

function hello(name) {
  if (name.trim() === "") throw new Error("the name is empty");
  return `Hello, ${name}!`;
}
