// expect-error: exception
// expect-message: never settled
await new Promise(() => {});
