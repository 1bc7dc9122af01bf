null.property;
// expect-error: exception
// expect-message: TypeError
// expect-position: 1:1
