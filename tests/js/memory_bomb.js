// memory: 16MiB
// expect-error: memory
const hoard = [];
while (true) hoard.push(new Array(100000).fill("x".repeat(10)));
