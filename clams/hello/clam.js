// Greets someone; the smallest useful clam and the README's first command.
async function run(args) {
  const name = args.name ?? "world";
  console.log(`greeting ${name}`);
  return { greeting: `Hello, ${name}!` };
}
