// The typage peer for age's post-quantum hybrid keys (age1pq1…, stanza mlkem768x25519).
//   keygen                 prints a new AGE-SECRET-KEY-PQ-1 identity, then its age1pq1 recipient
//   unwrap IDENTITY_FILE   reads an armored age file on stdin, prints its payload as hex
//   wrap RECIPIENT         reads hex on stdin, prints an armored age file for RECIPIENT
import * as age from "age-encryption";
import fs from "node:fs";

const [command, arg] = process.argv.slice(2);
const stdin = () => fs.readFileSync(0, "utf8").trim();

if (command === "keygen") {
  const identity = await age.generateHybridIdentity();
  process.stdout.write(`${identity}\n${await age.identityToRecipient(identity)}\n`);
} else if (command === "unwrap") {
  const identity = fs.readFileSync(arg, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"));
  const d = new age.Decrypter();
  d.addIdentity(identity);
  const payload = await d.decrypt(age.armor.decode(stdin()));
  process.stdout.write(Buffer.from(payload).toString("hex") + "\n");
} else if (command === "wrap") {
  const e = new age.Encrypter();
  e.addRecipient(arg);
  const sealed = await e.encrypt(Buffer.from(stdin(), "hex"));
  process.stdout.write(age.armor.encode(sealed));
} else {
  process.stderr.write(`usage: age_peer.mjs keygen | unwrap IDENTITY_FILE | wrap RECIPIENT\n`);
  process.exit(2);
}
