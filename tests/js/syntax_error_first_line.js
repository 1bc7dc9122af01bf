let x = );
// expect-error: syntax
// expect-message: SyntaxError
// expect-position: 1:9
