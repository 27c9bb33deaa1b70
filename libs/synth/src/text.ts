// Titles, descriptions and tags: topic words carry the signal, category words a coarser one, shared
// words none; a few off-topic words keep the text from being a perfect topic label.
import type { Rng } from './prng';
import {
  DESCRIPTION_FRAMES,
  SHARED_ADJECTIVES,
  SHARED_NOUNS,
  SHARED_TAGS,
  topicVocabulary,
  type TopicVocabulary,
} from './vocabulary';

export interface ItemText {
  title: string;
  description: string;
  category: string;
  tags: string[];
}

const TITLE_FRAMES = ['A T T N', 'T C N', 'A T N', 'T and T N', 'A C T'] as const;

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

export function itemText(
  topic: number,
  topicCount: number,
  offTopicRate: number,
  rng: Rng,
  topicTags = true,
): ItemText {
  const { category, topic: own } = topicVocabulary(topic);
  const topicWord = (): string => {
    // An off-topic word from any other topic: realistic noise for the text encoders.
    let vocab: TopicVocabulary = own;
    if (rng.bernoulli(offTopicRate)) vocab = topicVocabulary(rng.int(0, topicCount - 1)).topic;
    return rng.pick(vocab.words);
  };
  const fill = (frame: string): string =>
    frame
      .split(' ')
      .map((token) => {
        const tail = token.endsWith('.') || token.endsWith(':') || token.endsWith(',') ? token.slice(-1) : '';
        const slot = tail ? token.slice(0, -1) : token;
        const word =
          slot === 'T'
            ? topicWord()
            : slot === 'C'
              ? rng.pick(category.words)
              : slot === 'A'
                ? rng.pick(SHARED_ADJECTIVES)
                : slot === 'N'
                  ? rng.pick(SHARED_NOUNS)
                  : slot;
        return word + tail;
      })
      .join(' ');

  const title = fill(rng.pick(TITLE_FRAMES)).split(' ').map(capitalise).join(' ');
  const sentences = [rng.pick(DESCRIPTION_FRAMES), rng.pick(DESCRIPTION_FRAMES)].map(fill);
  const description = sentences.map((s) => capitalise(s)).join(' ');

  // Topic-tagged items name their topic (key + topic words); the others get category words only.
  const tags: string[] = topicTags ? [own.key] : [];
  const extraTags = rng.int(1, 2);
  for (let i = 0; i < extraTags; i++) {
    const w = rng.pick(topicTags ? own.words : category.words);
    if (!tags.includes(w)) tags.push(w);
  }
  const sharedTags = rng.int(0, 2);
  for (let i = 0; i < sharedTags; i++) {
    const w = rng.pick(SHARED_TAGS);
    if (!tags.includes(w)) tags.push(w);
  }
  return { title, description, category: category.name, tags: tags.slice(0, 5) };
}
