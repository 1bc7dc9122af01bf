// expect-error: exception
// expect-message: takes 1 argument(s), got 2
fs.readTextSync("a", "b");
