// expect-error: exception
// expect-message: expected an integer from 0 to 4294967295, got -1
await memory.recall("x", -1);
