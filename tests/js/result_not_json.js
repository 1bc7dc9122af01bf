// expect-error: result
// expect-message: BigInt
return 10n;
