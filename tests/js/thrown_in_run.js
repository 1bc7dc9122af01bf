// expect-error: exception
// expect-message: Error: inside run
// expect-position: 5:13
async function run(args) {
  throw new Error("inside run");
}
