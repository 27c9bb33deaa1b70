// Real English words per topic, so that a sentence encoder (MiniLM and the like) places items of one
// topic close together. Six categories of four topics; topic t belongs to category floor(t / 4).

export interface TopicVocabulary {
  /** Short name, also the item's first tag. */
  key: string;
  words: readonly string[];
}

export interface CategoryVocabulary {
  name: string;
  words: readonly string[];
  topics: readonly TopicVocabulary[];
}

export const TOPICS_PER_CATEGORY = 4;

export const CATEGORIES: readonly CategoryVocabulary[] = [
  {
    name: 'food',
    words: ['recipe', 'kitchen', 'tasty', 'fresh', 'homemade', 'flavour', 'meal', 'chef'],
    topics: [
      {
        key: 'coffee',
        words: ['espresso', 'latte', 'roast', 'barista', 'arabica', 'crema', 'cappuccino', 'mocha', 'brew'],
      },
      {
        key: 'baking',
        words: ['sourdough', 'flour', 'croissant', 'pastry', 'oven', 'dough', 'yeast', 'muffin', 'cake'],
      },
      {
        key: 'barbecue',
        words: ['grill', 'brisket', 'smoke', 'charcoal', 'ribs', 'steak', 'marinade', 'skewer', 'burger'],
      },
      {
        key: 'vegan',
        words: ['salad', 'kale', 'avocado', 'quinoa', 'lentil', 'tofu', 'spinach', 'hummus', 'chickpea'],
      },
    ],
  },
  {
    name: 'travel',
    words: ['trip', 'journey', 'explore', 'vacation', 'destination', 'adventure', 'getaway', 'tour'],
    topics: [
      {
        key: 'beach',
        words: ['surf', 'sand', 'wave', 'tropical', 'island', 'lagoon', 'coral', 'palm', 'snorkel'],
      },
      {
        key: 'hiking',
        words: ['trail', 'summit', 'backpack', 'alpine', 'boots', 'ridge', 'glacier', 'peak', 'canyon'],
      },
      {
        key: 'city',
        words: [
          'museum',
          'skyline',
          'cathedral',
          'metro',
          'boulevard',
          'gallery',
          'plaza',
          'rooftop',
          'tram',
        ],
      },
      {
        key: 'camping',
        words: ['tent', 'campfire', 'lantern', 'kayak', 'canoe', 'lake', 'forest', 'cabin', 'hammock'],
      },
    ],
  },
  {
    name: 'sports',
    words: ['training', 'fitness', 'workout', 'athlete', 'coach', 'season', 'champion', 'team'],
    topics: [
      {
        key: 'football',
        words: [
          'goal',
          'striker',
          'stadium',
          'league',
          'penalty',
          'midfielder',
          'keeper',
          'derby',
          'referee',
        ],
      },
      {
        key: 'running',
        words: ['marathon', 'sprint', 'sneakers', 'pace', 'jogging', 'stride', 'track', 'relay', 'endurance'],
      },
      {
        key: 'cycling',
        words: ['bicycle', 'pedal', 'helmet', 'peloton', 'saddle', 'chain', 'tyre', 'cyclist', 'handlebar'],
      },
      {
        key: 'yoga',
        words: [
          'meditation',
          'stretch',
          'mat',
          'breathing',
          'pose',
          'mindfulness',
          'lotus',
          'pilates',
          'zen',
        ],
      },
    ],
  },
  {
    name: 'tech',
    words: ['device', 'digital', 'smart', 'gadget', 'online', 'software', 'innovation', 'wireless'],
    topics: [
      {
        key: 'smartphone',
        words: [
          'battery',
          'screen',
          'camera',
          'charger',
          'android',
          'iphone',
          'app',
          'touchscreen',
          'processor',
        ],
      },
      {
        key: 'gaming',
        words: [
          'console',
          'controller',
          'gamer',
          'quest',
          'multiplayer',
          'arcade',
          'joystick',
          'esports',
          'dungeon',
        ],
      },
      {
        key: 'programming',
        words: [
          'code',
          'python',
          'algorithm',
          'compiler',
          'database',
          'server',
          'debugging',
          'javascript',
          'api',
        ],
      },
      {
        key: 'audio',
        words: [
          'headphones',
          'speaker',
          'bass',
          'vinyl',
          'amplifier',
          'microphone',
          'stereo',
          'playlist',
          'earbuds',
        ],
      },
    ],
  },
  {
    name: 'home',
    words: ['home', 'house', 'cozy', 'room', 'weekend', 'family', 'project', 'living'],
    topics: [
      {
        key: 'gardening',
        words: ['garden', 'tulip', 'compost', 'seeds', 'rose', 'greenhouse', 'soil', 'orchid', 'lawn'],
      },
      {
        key: 'interior',
        words: ['sofa', 'lamp', 'cushion', 'curtain', 'rug', 'decor', 'shelf', 'wallpaper', 'armchair'],
      },
      {
        key: 'diy',
        words: [
          'hammer',
          'drill',
          'screwdriver',
          'toolbox',
          'paint',
          'sanding',
          'workshop',
          'wrench',
          'timber',
        ],
      },
      {
        key: 'pets',
        words: [
          'puppy',
          'kitten',
          'leash',
          'aquarium',
          'parrot',
          'hamster',
          'veterinarian',
          'collar',
          'grooming',
        ],
      },
    ],
  },
  {
    name: 'fashion',
    words: ['style', 'look', 'trend', 'wardrobe', 'outfit', 'elegant', 'fashion', 'collection'],
    topics: [
      {
        key: 'streetwear',
        words: ['hoodie', 'denim', 'jacket', 'cap', 'oversized', 'graphic', 'jeans', 'bomber', 'beanie'],
      },
      {
        key: 'jewelry',
        words: [
          'necklace',
          'diamond',
          'ring',
          'bracelet',
          'earrings',
          'gold',
          'pearl',
          'pendant',
          'sapphire',
        ],
      },
      {
        key: 'skincare',
        words: [
          'serum',
          'moisturizer',
          'cleanser',
          'retinol',
          'toner',
          'hydration',
          'lotion',
          'collagen',
          'cream',
        ],
      },
      {
        key: 'vintage',
        words: [
          'retro',
          'antique',
          'thrift',
          'gramophone',
          'typewriter',
          'polaroid',
          'heirloom',
          'cassette',
          'brass',
        ],
      },
    ],
  },
];

/** Words any item may use: they carry no topic signal, like real marketing copy. */
export const SHARED_ADJECTIVES = [
  'new',
  'best',
  'ultimate',
  'simple',
  'essential',
  'easy',
  'premium',
  'modern',
  'classic',
  'quick',
  'perfect',
  'popular',
  'budget',
  'deluxe',
  'original',
  'weekly',
] as const;

export const SHARED_NOUNS = [
  'guide',
  'review',
  'tips',
  'ideas',
  'set',
  'kit',
  'bundle',
  'edition',
  'deal',
  'story',
  'picks',
  'basics',
] as const;

export const SHARED_TAGS = ['new', 'sale', 'trending', 'bestseller', 'limited', 'eco', 'gift'] as const;

/** Sentence frames for descriptions: T = topic word, C = category word, A = shared adjective, N = shared noun. */
export const DESCRIPTION_FRAMES = [
  'Discover the A T and T for every C lover.',
  'A N of T, T and C ideas.',
  'Our A picks: T with a touch of T.',
  'Everything about T and C, from T to T.',
  'The A way to enjoy T this week.',
  'Made for fans of T, with T and A C.',
] as const;

export function topicVocabulary(topic: number): { category: CategoryVocabulary; topic: TopicVocabulary } {
  const category = CATEGORIES[Math.floor(topic / TOPICS_PER_CATEGORY)];
  const t = category?.topics[topic % TOPICS_PER_CATEGORY];
  if (!category || !t) throw new Error(`no vocabulary for topic ${topic}`);
  return { category, topic: t };
}
