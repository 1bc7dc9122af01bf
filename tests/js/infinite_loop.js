// timeout: 200ms
// expect-error: timeout
while (true) {}
