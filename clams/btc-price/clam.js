// Fetches a spot price from Coinbase's public API. It needs `http.fetch` to be
// allowed for api.coinbase.com in policy.toml; without that the call is denied
// and the clam says which rule to add.
async function run(args) {
  const coin = String(args.coin ?? "BTC").toUpperCase();
  const currency = String(args.currency ?? "USD").toUpperCase();
  const response = await http.fetch({
    method: "GET",
    url: `https://api.coinbase.com/v2/prices/${coin}-${currency}/spot`,
    headers: [{ name: "accept", value: "application/json" }],
  });
  if (response.status !== 200) {
    throw new Error(`coinbase answered ${response.status}`);
  }
  const { data } = JSON.parse(response.body);
  return { coin: data.base, currency: data.currency, price: Number(data.amount) };
}
