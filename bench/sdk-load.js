// A load generator in its own process (the noisy tenant of bench/sdk.js), so its event
// loop is not the one measuring the victim: autocannon at a fixed overall rate.
import autocannon from 'autocannon';

const { url, token, rate, connections, seconds } = JSON.parse(process.argv[2]);
autocannon({ url, connections, duration: seconds, overallRate: rate, headers: { authorization: `Bearer ${token}` } }, (err, r) => {
  if (err) throw err;
  process.send({ total: r.requests.total, non2xx: r.non2xx, statusCodes: r.statusCodeStats, reqPerSec: r.requests.average, errors: r.errors });
});
