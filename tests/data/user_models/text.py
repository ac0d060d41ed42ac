"""Text classifiers over token ids: LSTM, GRU and a 1-D CNN (Kim, 2014). No INPUT_DTYPE:
a model whose first layer is an nn.Embedding reads token ids."""
import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = [12]


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size=50, embed_dim=16, hidden_dim=12, num_classes=3, pad_idx=1):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_idx)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, num_layers=1, batch_first=True,
                            bidirectional=True)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(hidden_dim * 2, num_classes)

    def forward(self, text):
        embedded = self.embedding(text)
        output, (hidden, cell) = self.lstm(embedded)
        out = self.dropout(output[:, -1, :])
        return self.fc(out)


class GRUClassifier(nn.Module):
    """Classifies from the final hidden states of both directions (h_n)."""

    def __init__(self, vocab_size=50, embed_dim=16, hidden_dim=12, num_classes=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.gru = nn.GRU(embed_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(hidden_dim * 2, num_classes)

    def forward(self, x):
        emb = self.embedding(x)
        _, hidden = self.gru(emb)
        hidden = torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)
        return self.fc(hidden)


class LastHiddenLSTM(nn.Module):
    """One-direction LSTM, classifying from h_n[-1]."""

    def __init__(self, vocab_size=50, embed_dim=16, hidden_dim=12, num_classes=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, num_classes)

    def forward(self, x):
        _, (h_n, _) = self.lstm(self.embedding(x))
        return self.fc(h_n[-1])


class TextCNN(nn.Module):
    def __init__(self, vocab_size=50, embed_dim=16, n_filters=8, filter_sizes=(2, 3, 4),
                 num_classes=3, dropout=0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.convs = nn.ModuleList([nn.Conv1d(embed_dim, n_filters, fs) for fs in filter_sizes])
        self.fc = nn.Linear(len(filter_sizes) * n_filters, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, text):
        embedded = self.embedding(text)            # [batch, len, emb]
        embedded = embedded.permute(0, 2, 1)       # [batch, emb, len]
        conved = [F.relu(conv(embedded)) for conv in self.convs]
        pooled = [c.max(dim=2)[0] for c in conved]
        cat = self.dropout(torch.cat(pooled, dim=1))
        return self.fc(cat)
