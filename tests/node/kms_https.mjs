// Node's AWS SDK (v3) against Trent over HTTPS. Reads TRENT_ENDPOINT, AWS_REGION and the
// standard AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; trusts Trent's CA through Node's own
// NODE_EXTRA_CA_CERTS (the JS SDK reads neither ca_bundle nor AWS_CA_BUNDLE). Prints one JSON
// line: the key made, the round-tripped plaintext and the data key's sizes.
import { KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, GenerateDataKeyCommand } from "@aws-sdk/client-kms";

const kms = new KMSClient({ endpoint: process.env.TRENT_ENDPOINT, region: process.env.AWS_REGION, maxAttempts: 1 });
const plaintext = new TextEncoder().encode("secret over TLS from node");
const key = (await kms.send(new CreateKeyCommand({ Description: "node over https" }))).KeyMetadata;
const encrypted = await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: plaintext, EncryptionContext: { via: "node" } }));
const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: { via: "node" } }));
const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: "AES_256" }));
const again = await kms.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob }));
console.log(JSON.stringify({
  keyId: key.KeyId,
  decryptKeyId: decrypted.KeyId,
  plaintext: new TextDecoder().decode(decrypted.Plaintext),
  dataKeyBytes: dataKey.Plaintext.length,
  dataKeyRoundTrip: Buffer.from(again.Plaintext).equals(Buffer.from(dataKey.Plaintext)),
}));
