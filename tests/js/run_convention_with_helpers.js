// args: {"n": 5}
// expect: 120
function factorial(n) {
  return n <= 1 ? 1 : n * factorial(n - 1);
}
async function run(args) {
  return factorial(args.n);
}
