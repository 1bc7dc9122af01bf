// expect: "denied"
try {
  memory.rememberSync("the sky is blue");
} catch (e) {
  return e.code;
}
