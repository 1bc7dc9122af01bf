// max-output: 4KiB
// expect-error: output
// expect-console-contains: …[output truncated: the run's limit of 4.0 KiB was reached]
while (true) console.log("flood ".repeat(20));
