// expect-error: syntax
// expect-message: SyntaxError
// expect-position: 4:9
let x = ;
