// expect-error: exception
// expect-message: TypeError: http.fetch: argument `req`.url: expected a string, got a number
await http.fetch({ method: "GET", url: 42, headers: [] });
