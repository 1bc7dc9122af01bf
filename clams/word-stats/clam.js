// Counts words, lines and the most frequent words of a text. Pure computation:
// it needs no permission at all.
async function run(args) {
  const text = String(args.text ?? "");
  const top = Number.isInteger(args.top) ? args.top : 5;
  const words = text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
  const counts = new Map();
  for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
  const frequent = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, top)
    .map(([word, count]) => ({ word, count }));
  return {
    characters: text.length,
    lines: text === "" ? 0 : text.split("\n").length,
    words: words.length,
    distinct: counts.size,
    frequent,
  };
}
