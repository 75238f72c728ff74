// fhir-kit-client (npm), unchanged and with its defaults, against the served app: the steps of
// tests/faces/test_fhir_stock_clients.py. Reads its input as JSON on stdin, writes what it saw as
// JSON on stdout; any error of the library is printed and exits 1.
import { Client } from 'fhir-kit-client';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const reader = new Client({ baseUrl: `${input.base}/fhir`, bearerToken: input.reader });
const writer = new Client({ baseUrl: `${input.base}/fhir/1804`, bearerToken: input.source });
const matches = (bundle) =>
  (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource);

const seen = {};
// its default search: GET [base]/Observation?...
let bundle = await reader.search({ resourceType: 'Observation', searchParams: input.search });
const first = matches(bundle);
seen.firstPage = first.map((r) => r.identifier[0].value);
// read the first result by its id
const read = await reader.read({ resourceType: 'Observation', id: first[0].id });
seen.readIsTheEntry = JSON.stringify(read) === JSON.stringify(first[0]);
// every page through the next links
seen.all = [...seen.firstPage];
seen.pages = 1;
for (;;) {
  bundle = await reader.nextPage({ bundle });
  if (!bundle) break;
  seen.pages += 1;
  seen.all.push(...matches(bundle).map((r) => r.identifier[0].value));
}
// as a journal system: a transaction and a conditional update, read back by the reader
const answer = await writer.transaction({ body: input.transaction });
seen.transaction = answer.entry.map((e) => e.response.status);
const stored = await writer.update({
  resourceType: 'EpisodeOfCare',
  searchParams: { identifier: input.identifier },
  body: input.episode,
});
const back = await reader.read({ resourceType: 'EpisodeOfCare', id: stored.id });
seen.readBack = back.identifier[0].value;
process.stdout.write(JSON.stringify(seen));
