// expect-error: exception
// expect-message: unknown case `hourly`
await cron.add({ name: "x", schedule: { hourly: 1 }, action: { prompt: "hi" }, once: false });
