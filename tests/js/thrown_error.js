// expect-error: exception
// expect-message: RangeError: too far
// expect-position: 6:13
const a = 1;
if (a) {
  throw new RangeError("too far");
}
