// memory: 16MiB
// expect-error: memory
let s = "x".repeat(1 << 20);
const keep = [];
while (true) {
  s = s + "y";
  keep.push(s.toUpperCase());
}
