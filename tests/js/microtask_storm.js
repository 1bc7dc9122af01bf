// timeout: 200ms
// expect-error: timeout
const spin = () => Promise.resolve().then(spin);
await spin();
