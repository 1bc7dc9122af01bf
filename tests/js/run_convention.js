// args: {"name": "clam"}
// expect: "hello, clam"
async function run(args) {
  return `hello, ${args.name}`;
}
