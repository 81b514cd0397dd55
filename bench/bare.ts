/**
 * The floor for bench/startup.ts: a SEA that reads one line from stdin and exits, built exactly as
 * dist/palisade is. The difference between the two is what Palisade itself costs per alert.
 */
let received = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  received += chunk;
  if (received.includes('\n')) process.exit(0);
});
process.stdin.on('end', () => process.exit(0));
