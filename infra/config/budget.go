package config

// EncodedGrowthFactor bounds how many bytes one byte of an SQS message (its
// body, or a message attribute's name, type or value) takes in the
// execution input once the pipe has encoded it as a JSON string. The
// package doc gives the reasoning.
const EncodedGrowthFactor = 2

// worstRecordBytes is the most a record of an SQS message of up to
// maxMessage bytes takes in the execution input.
func worstRecordBytes(maxMessage int) int {
	return EncodedGrowthFactor*maxMessage + RecordEnvelopeBytes
}

// worstInputBytes is the most an execution input of n such records takes:
// the records, the commas between them and the brackets around them.
func worstInputBytes(n, maxMessage int) int {
	return n*worstRecordBytes(maxMessage) + n - 1 + 2
}

// MaxMessageSizeThatFits is the largest queue.maxMessageSizeBytes whose
// every message fits an execution input alone.
func MaxMessageSizeThatFits() int {
	return (PipePayloadBytes - 2 - RecordEnvelopeBytes) / EncodedGrowthFactor
}

// MaxBatchSizeThatFits is the largest pipe.batchSize whose every batch of
// messages of up to maxMessage bytes fits an execution input.
func MaxBatchSizeThatFits(maxMessage int) int {
	return (PipePayloadBytes - 1) / (worstRecordBytes(maxMessage) + 1)
}

// validatePayloadBudget checks that the worst batch the pipe can receive
// fits the execution input as the pipe encodes it: one message alone
// first, then a whole batch.
func (c *Config) validatePayloadBudget(ps *problems) {
	maxMessage, batch := c.Queue.MaxMessageSizeBytes, c.Pipe.BatchSize
	if maxMessage < 1 || batch < 1 {
		return // reported by their own ranges
	}
	if one := worstInputBytes(1, maxMessage); one > PipePayloadBytes {
		ps.add("queue.maxMessageSizeBytes", "a message of %d bytes can take %d bytes in the execution input (%d× its size as a JSON string plus %d bytes of envelope), over the %d-byte limit of a Step Functions execution input; at most %d bytes always fit",
			maxMessage, one, EncodedGrowthFactor, RecordEnvelopeBytes, PipePayloadBytes, MaxMessageSizeThatFits())
		return
	}
	if worst := worstInputBytes(batch, maxMessage); worst > PipePayloadBytes {
		ps.add("pipe.batchSize", "%d records of up to %d bytes (queue.maxMessageSizeBytes) can take %d bytes in the execution input (%d× each message as a JSON string plus %d bytes of envelope), over the %d-byte payload a pipe can hand to Step Functions; at most %d such records fit",
			batch, maxMessage, worst, EncodedGrowthFactor, RecordEnvelopeBytes, PipePayloadBytes, MaxBatchSizeThatFits(maxMessage))
	}
}
