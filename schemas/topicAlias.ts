/**
 * How a command names a Kafka topic in its `table` field (the command key is store/table): the
 * topic with '.' and '-' as '_', lower case. Shared by the decide stage and the Kafka executor.
 */
export const topicAlias = (topic: string) => topic.toLowerCase().replace(/[.-]/g, '_');
