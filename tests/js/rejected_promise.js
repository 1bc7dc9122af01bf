// expect-error: exception
// expect-message: Error: later
await Promise.resolve();
await Promise.reject(new Error("later"));
