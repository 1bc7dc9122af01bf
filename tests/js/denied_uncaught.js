// expect-error: denied
// expect-message: rule: default-deny
// expect-position: 4:10
await fs.readText("notes.txt");
