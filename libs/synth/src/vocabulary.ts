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

/** A category: its shared words and its topics ({key: words}), each word list written space-separated. */
function category(name: string, words: string, topics: Readonly<Record<string, string>>): CategoryVocabulary {
  const split = (w: string): readonly string[] => w.split(' ');
  return {
    name,
    words: split(words),
    topics: Object.entries(topics).map(([key, w]) => ({ key, words: split(w) })),
  };
}

export const CATEGORIES: readonly CategoryVocabulary[] = [
  category('food', 'recipe kitchen tasty fresh homemade flavour meal chef', {
    coffee: 'espresso latte roast barista arabica crema cappuccino mocha brew',
    baking: 'sourdough flour croissant pastry oven dough yeast muffin cake',
    barbecue: 'grill brisket smoke charcoal ribs steak marinade skewer burger',
    vegan: 'salad kale avocado quinoa lentil tofu spinach hummus chickpea',
  }),
  category('travel', 'trip journey explore vacation destination adventure getaway tour', {
    beach: 'surf sand wave tropical island lagoon coral palm snorkel',
    hiking: 'trail summit backpack alpine boots ridge glacier peak canyon',
    city: 'museum skyline cathedral metro boulevard gallery plaza rooftop tram',
    camping: 'tent campfire lantern kayak canoe lake forest cabin hammock',
  }),
  category('sports', 'training fitness workout athlete coach season champion team', {
    football: 'goal striker stadium league penalty midfielder keeper derby referee',
    running: 'marathon sprint sneakers pace jogging stride track relay endurance',
    cycling: 'bicycle pedal helmet peloton saddle chain tyre cyclist handlebar',
    yoga: 'meditation stretch mat breathing pose mindfulness lotus pilates zen',
  }),
  category('tech', 'device digital smart gadget online software innovation wireless', {
    smartphone: 'battery screen camera charger android iphone app touchscreen processor',
    gaming: 'console controller gamer quest multiplayer arcade joystick esports dungeon',
    programming: 'code python algorithm compiler database server debugging javascript api',
    audio: 'headphones speaker bass vinyl amplifier microphone stereo playlist earbuds',
  }),
  category('home', 'home house cozy room weekend family project living', {
    gardening: 'garden tulip compost seeds rose greenhouse soil orchid lawn',
    interior: 'sofa lamp cushion curtain rug decor shelf wallpaper armchair',
    diy: 'hammer drill screwdriver toolbox paint sanding workshop wrench timber',
    pets: 'puppy kitten leash aquarium parrot hamster veterinarian collar grooming',
  }),
  category('fashion', 'style look trend wardrobe outfit elegant fashion collection', {
    streetwear: 'hoodie denim jacket cap oversized graphic jeans bomber beanie',
    jewelry: 'necklace diamond ring bracelet earrings gold pearl pendant sapphire',
    skincare: 'serum moisturizer cleanser retinol toner hydration lotion collagen cream',
    vintage: 'retro antique thrift gramophone typewriter polaroid heirloom cassette brass',
  }),
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
