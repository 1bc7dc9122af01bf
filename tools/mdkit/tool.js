// mdkit: Markdown utilities. Each top-level function is one export of
// wit/mdkit.wit (the WIT name in camelCase); arguments and results are the JSON
// forms of the WIT types. A thrown Error becomes the `err` of a `result`.

// The lines outside fenced code blocks (``` or ~~~), with their line numbers.
function proseLines(markdown) {
  const lines = [];
  let fence = null;
  markdown.split(/\r?\n/).forEach((line, index) => {
    const marker = line.match(/^ {0,3}(`{3,}|~{3,})/);
    if (marker) {
      if (fence === null) fence = marker[1][0];
      else if (marker[1][0] === fence) fence = null;
      return;
    }
    if (fence === null) lines.push({ line, index });
  });
  return lines;
}

// Inline markup removed: images and links keep their text, code keeps its
// content, emphasis markers go.
function plainInline(text) {
  return text
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`([^`]*)`/g, "$1")
    .replace(/(\*\*|__)(.+?)\1/g, "$2")
    .replace(/(\*|_)(.+?)\1/g, "$2")
    .replace(/~~(.+?)~~/g, "$1")
    .trim();
}

// GitHub's anchor rule: lowercase, punctuation dropped, spaces to hyphens.
function anchor(text) {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function headings(markdown) {
  const seen = new Map();
  const result = [];
  for (const { line } of proseLines(markdown)) {
    const m = line.match(/^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/);
    if (!m) continue;
    const text = plainInline(m[2] || "");
    const base = anchor(text);
    const count = seen.get(base) || 0;
    seen.set(base, count + 1);
    result.push({
      level: m[1].length,
      text,
      slug: count === 0 ? base : `${base}-${count}`,
    });
  }
  return result;
}

function links(markdown) {
  const result = [];
  const pattern = /(!?)\[([^\]]*)\]\(\s*<?([^\s>)]*)>?(?:\s+"([^"]*)")?\s*\)/g;
  for (const { line } of proseLines(markdown)) {
    const code = line.replace(/`[^`]*`/g, (s) => " ".repeat(s.length));
    for (const m of code.matchAll(pattern)) {
      result.push({
        text: plainInline(m[2]),
        url: m[3],
        title: m[4] === undefined ? null : m[4],
        image: m[1] === "!",
      });
    }
  }
  return result;
}

function tableOfContents(markdown, maxLevel) {
  if (maxLevel < 1 || maxLevel > 6) {
    throw new Error(`max-level must be between 1 and 6, not ${maxLevel}`);
  }
  const wanted = headings(markdown).filter((h) => h.level <= maxLevel);
  if (wanted.length === 0) {
    throw new Error(`the document has no heading of level ${maxLevel} or above`);
  }
  const top = Math.min(...wanted.map((h) => h.level));
  return wanted
    .map((h) => `${"  ".repeat(h.level - top)}- [${h.text}](#${h.slug})`)
    .join("\n");
}

function toText(markdown) {
  const out = [];
  let fence = null;
  for (const line of markdown.split(/\r?\n/)) {
    const marker = line.match(/^ {0,3}(`{3,}|~{3,})/);
    if (marker) {
      if (fence === null) fence = marker[1][0];
      else if (marker[1][0] === fence) fence = null;
      continue;
    }
    if (fence !== null) {
      out.push(line);
      continue;
    }
    if (/^ {0,3}([-*_])( *\1){2,} *$/.test(line)) continue;
    const body = line
      .replace(/^ {0,3}#{1,6}[ \t]+/, "")
      .replace(/[ \t]+#+[ \t]*$/, "")
      .replace(/^ {0,3}> ?/, "")
      .replace(/^(\s*)([-*+]|\d+[.)])[ \t]+/, "$1");
    out.push(plainInline(body));
  }
  return out.join("\n").replace(/\n{3,}/g, "\n\n").trim();
}
