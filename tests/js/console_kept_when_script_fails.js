// expect-error: exception
// expect-console: before the failure\n
console.log("before the failure");
throw new Error("x");
