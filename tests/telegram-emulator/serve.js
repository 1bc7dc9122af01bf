// Starts the telegram-test-api Bot API emulator on 127.0.0.1:PORT for
// host/tests/gateway_delivery.rs. Prints "ready" once listening; exits when
// its standard input closes (the test process ended).
const TelegramServer = require('telegram-test-api');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node serve.js PORT');
  process.exit(2);
}
const server = new TelegramServer({ port, host: '127.0.0.1', storeTimeout: 600 });
server.start().then(() => console.log('ready'), (error) => {
  console.error(`the emulator did not start: ${error}`);
  process.exit(1);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
