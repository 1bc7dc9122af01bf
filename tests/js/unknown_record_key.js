// expect-error: exception
// expect-message: unknown key `mehtod`
await http.fetch({ mehtod: "GET", url: "https://x.org/", headers: [] });
