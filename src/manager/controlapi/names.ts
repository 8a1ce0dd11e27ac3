// Names for services created without --name, in Docker's adjective_noun style so that `service
// ls` stays readable; the nouns are sea creatures, for an orchestrator named after one.

const adjectives = [
  'agile',
  'bold',
  'brave',
  'bright',
  'calm',
  'clever',
  'cool',
  'deep',
  'eager',
  'fast',
  'gentle',
  'happy',
  'keen',
  'kind',
  'lively',
  'lucid',
  'nimble',
  'patient',
  'proud',
  'quick',
  'quiet',
  'sharp',
  'silent',
  'steady',
  'swift',
  'tidy',
  'vivid',
  'wise',
  'witty',
  'zealous',
];

const nouns = [
  'anchovy',
  'barracuda',
  'beluga',
  'clam',
  'cod',
  'coral',
  'crab',
  'dolphin',
  'eel',
  'grouper',
  'haddock',
  'halibut',
  'herring',
  'krill',
  'lobster',
  'manatee',
  'marlin',
  'narwhal',
  'octopus',
  'orca',
  'oyster',
  'porpoise',
  'ray',
  'salmon',
  'seal',
  'shrimp',
  'squid',
  'sturgeon',
  'tuna',
  'walrus',
];

function pick<T>(list: readonly T[], random: () => number): T {
  return list[Math.min(Math.floor(random() * list.length), list.length - 1)] as T;
}

/**
 * A name `taken` does not know. As Docker's namesgenerator, a retry appends a digit; after a
 * few misses the name falls back to the id prefix, which is as unique as the id.
 */
export function generateServiceName(
  taken: (name: string) => boolean,
  id: string,
  random: () => number = Math.random,
): string {
  for (let attempt = 0; attempt < 10; attempt++) {
    const base = `${pick(adjectives, random)}_${pick(nouns, random)}`;
    const name = attempt === 0 ? base : `${base}${Math.floor(random() * 10)}`;
    if (!taken(name)) return name;
  }
  return `svc-${id.slice(0, 12)}`;
}
