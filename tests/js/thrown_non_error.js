// expect-error: exception
// expect-message: uncaught {"code":42}
throw { code: 42 };
